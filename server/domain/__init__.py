"""Pure Vietnamese domain logic: text folding and safe search queries (vntext), working days (workdays),
deadline expressions (deadlines), unit names in text (units) and assignment suggestions (assignments).

Standard library only: no database, no HTTP.
"""
