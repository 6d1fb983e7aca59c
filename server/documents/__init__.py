"""Meeting documents: minutes (Decree 30 form 1.9) and conclusion notice (form 1.4), DOCX and PDF, and seals.

Pure rendering: no database, no HTTP. ``model`` holds the content, ``layout`` turns it into format-independent
blocks in the form's order, ``docx_render``/``pdf_render`` write the files, ``seal`` signs a version.
"""
