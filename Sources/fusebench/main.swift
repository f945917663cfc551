print("fusebench")
