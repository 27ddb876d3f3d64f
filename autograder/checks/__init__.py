"""Strict hidden checks, one module per notebook. Hidden test blocks call them; they never reach
students. Each strict check first runs the public check of the same name, then more cases."""
