// Store module (in progress)
