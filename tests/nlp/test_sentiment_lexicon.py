from nlp.sentiment_lexicon import polarity


def test_polarity_sign():
    assert polarity("I love these shoes, they are great!") > 0.5
    assert polarity("This is terrible, the worst service ever. I am furious.") < -0.5
    assert abs(polarity("The parcel is 30 cm wide.")) < 0.2
    assert polarity("   ") == 0.0
