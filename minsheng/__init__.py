"""民生说事 case domain: grids, staff, residents, cases, routing, time limits, ratings, statistics.

This package never imports Rasa, the Telegram gateway or the web package; they import it.
"""
