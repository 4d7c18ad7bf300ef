"""The messaging core every channel shares: one Rasa client and one slash neutraliser."""
