// Report module (in progress)
