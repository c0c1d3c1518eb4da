"""What the pipeline's components, the model server and the runners share, below all of them:
names and the serving contract, warm-up requests, atomic writes, console routing, paths."""
