"""The escalation ladder (督办 → 问责): rules as data, targets under 党政同责, firing once."""
