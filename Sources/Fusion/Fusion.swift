// Fusion module (in progress)
