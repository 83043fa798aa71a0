"""``N_(text)``: marks an English sentence of the library for the app's translations and returns it unchanged.

The library speaks English and never imports the app; Babel extracts every ``N_("...")`` into the app's catalogue
(``tools/i18n.py``), and the app translates the sentence where it shows it (``app.i18n._`` for a fixed sentence,
``app.i18n.message`` for a template filled in with ``.format(name=...)``).
"""


def N_(text: str) -> str:
    return text
