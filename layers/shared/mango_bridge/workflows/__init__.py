"""Step handlers the state machines run, and the code that starts them."""
