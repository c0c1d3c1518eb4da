"""The BiLSTM sentiment model: its variants, GloVe vectors, training and export."""
