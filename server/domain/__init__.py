"""Pure Vietnamese domain logic: text folding, deadlines, working days, assignment sentences."""
