"""The till: what shop staff (and anyone above them) use at the counter."""
