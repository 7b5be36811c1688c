"""Messages no shop's support covers, written by this team: the other side of the decline gate.

A store's training data says what its shoppers ask about, and nothing about what they don't
ask. The familiarity gate (``nlp.intents``) declines messages far from every training example.
This bank adds a second test: a message that is closer to one of these lines than to
anything the store trained on, by a margin chosen on the store's validation split, gets no
intent either.

The lines cover trivia, weather and time, maths and homework, other trades, health, travel,
news and politics, entertainment, cooking, personal life, questions about the bot itself, and
keyboard noise. They leave out greetings, thanks, goodbyes and asking for a person, which every
store handles. They also leave out what a shop's support may well be asked: payments and
cards, devices that won't work, the post, repairs. ``bench/data/out_of_scope.txt``, the
held-out set the benchmarks score the gate on, is a separate list. Nothing here paraphrases
it.
"""

from __future__ import annotations

OUT_OF_SCOPE_BANK: tuple[str, ...] = (
    # general knowledge and trivia
    "which ocean is the deepest",
    "how far away is the moon",
    "who painted the mona lisa",
    "when did the second world war end",
    "what language do they speak in brazil",
    "how many bones are in the human body",
    "what is the longest river in africa",
    "who invented the telephone",
    "why is the sea salty",
    "how many stars are in the milky way",
    "what's the population of canada",
    "who wrote pride and prejudice",
    "what is the speed of light",
    "how do volcanoes form",
    "which planet has the most moons",
    # weather, time, dates
    "will it snow this weekend",
    "how hot will it be on saturday",
    "do I need an umbrella today",
    "what's the forecast for next week in madrid",
    "what day of the week is christmas this year",
    "when does daylight saving time start",
    "what's the date today",
    "how many days until new year",
    # maths, homework, coding
    "what is the square root of 144",
    "solve 3x + 7 = 22",
    "what's 15 percent of 80",
    "how do you calculate the area of a circle",
    "explain photosynthesis for my biology exam",
    "help me with my history essay on the romans",
    "how do I reverse a list in python",
    "why does my javascript say undefined is not a function",
    "what's the difference between a virus and bacteria",
    "convert 30 celsius to fahrenheit",
    "how many centimetres in a foot",
    # other trades and services
    "my boiler is making a banging noise",
    "how do I unblock a kitchen sink",
    "which electrician do you recommend in my area",
    "how much does it cost to repaint a car",
    "where is the nearest petrol station",
    "how do I apply for a passport",
    # health and body
    "I have a headache that won't go away",
    "is it normal for my knee to click",
    "how much water should I drink a day",
    "what are the symptoms of the flu",
    "can I take ibuprofen with coffee",
    "how do I get rid of hiccups",
    "my dog ate chocolate, is that dangerous",
    "how many hours of sleep does a teenager need",
    # travel and going out
    "what's the best time to visit japan",
    "find me a cheap train to amsterdam",
    "which beach is nicest in portugal",
    "book a table for two at an italian restaurant",
    "what time does the museum close",
    "is the city centre busy on saturdays",
    "how do I get to the airport by bus",
    # news, politics, money
    "who will win the next election",
    "what happened in the news today",
    "is bitcoin going up or down",
    "should I buy shares in tech companies",
    "what do you think of the prime minister",
    "why are house prices so high",
    "how does inflation work",
    # entertainment and hobbies
    "what's a good series to binge watch",
    "who is the best footballer of all time",
    "when does the next harry potter film come out",
    "give me a riddle",
    "play some music",
    "tell me a bedtime story",
    "what are the rules of chess",
    "how do I get better at drawing",
    "suggest a board game for a party",
    "who won the oscar for best actor",
    "what's the highest score in bowling",
    "recommend a podcast about history",
    "how do I knit a scarf",
    # cooking and food
    "how long do I boil an egg",
    "give me a recipe for banana bread",
    "what wine goes with fish",
    "is pasta healthier than rice",
    "how do I make pancakes fluffy",
    "what can I make with potatoes and cheese",
    # personal life
    "my girlfriend is angry with me",
    "how do I ask for a pay rise",
    "I can't decide what to study at university",
    "my flatmate never does the dishes",
    "what should I name my new puppy",
    "how do I stop procrastinating",
    "I feel lonely today",
    "my son won't eat vegetables",
    "should I move to a new city",
    # about the bot itself (not asking for a person)
    "what is your name",
    "do you have feelings",
    "are you smarter than siri",
    "who made you",
    "do you dream",
    "what's your favourite food",
    "can you learn things",
    "are you alive",
    # noise and fragments
    "jkjkjkjk",
    "ghfjdksla",
    "mnbvcxz",
    "xyz",
    "???",
    "lol",
    "test test 1 2 3",
    "aaaaaaa",
    "999",
    "the quick brown fox",
    "purple elephant",
    "blah blah",
    "hmmmm let me think",
)
