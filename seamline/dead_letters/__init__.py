"""Dead letters: the one writer every stage uses, reading and purging them, and writing them back."""
