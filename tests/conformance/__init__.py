"""One suite, written against `SlotProgrammer`, run over every transport target and lock profile."""
