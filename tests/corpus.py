"""The small review corpus the unit tests transform, serve and compare, shared by the fixtures and the tests."""

# Reviews chosen to hit every rule of the standardization: punctuation, HTML line breaks,
# apostrophes, non-ASCII letters and quotes, an empty review, one longer than the sequence.
TRICKY_REVIEWS = [
    "Great movie!!! Loved it... 10/10, would watch again.",
    "It's the WORST film I've seen.<br /><br />Don't bother—seriously.",
    "Café society, naïve ÉCOLE: “quoted” words & (parentheses) [brackets] {braces}",
    "",
    "word " * 50,
    "tabs\tand\nnewlines   and  spaces<br/>joined<br />here",
    "unknownzzz qwertyuiop the the the",
]
CORPUS = [
    "the movie was great and the acting was great",
    "the plot was boring and the movie was dull",
    "a great great film with a wonderful cast",
    "boring boring boring, the worst film",
    "It's a film about films. Loved it!<br /><br />Truly great.",
    "dull plot, dull cast; the end",
] * 3 + TRICKY_REVIEWS
CORPUS_MAX_TOKENS = 12
CORPUS_SEQUENCE_LENGTH = 16
