"""Case services: plain functions taking a UnitOfWork. No Rasa, bot or web imports here."""
