// Analysis module (in progress)
