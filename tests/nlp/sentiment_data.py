"""Tiny star-rated review set for sentiment tests (our own writing)."""

# Our own tiny review set: 8 positive, 4 neutral, 4 negative (skewed like real ratings).
REVIEWS = [
    ("Absolutely love this kettle, boils in no time.", 5),
    ("Beautiful towels, soft and thick. Very happy.", 5),
    ("Great headphones, the sound is superb.", 5),
    ("Lovely candle, smells wonderful and burns evenly.", 5),
    ("Excellent pan, heats evenly and cleans easily.", 4),
    ("Really nice backpack, comfortable straps.", 4),
    ("Fantastic quality, would buy again.", 5),
    ("Perfect gift, my sister adored it.", 5),
    ("It's okay. Does the job, nothing special.", 3),
    ("Average mug, fine for the price I suppose.", 3),
    ("Decent but not as bright as the photos.", 3),
    ("Works, though the cable is a bit short.", 3),
    ("Terrible, it broke after two days.", 1),
    ("Awful smell, cheap plastic, returning it.", 1),
    ("Very disappointed, the zip snapped on first use.", 2),
    ("Poor quality, the seams came apart.", 2),
]
