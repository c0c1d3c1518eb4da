"""The sentiment models (NBSVM-style default, n-gram bag, the notebook's BiLSTMs): their variants,
GloVe vectors, training and export."""
