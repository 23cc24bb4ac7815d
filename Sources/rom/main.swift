print("rom")
