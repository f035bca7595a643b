"""Student templates: ``facelab assignment start NAME`` copies ``<name>.py`` from here."""
