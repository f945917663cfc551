// Suite module (in progress)
