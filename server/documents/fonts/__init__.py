"""Liberation Serif 2.1.5 (SIL OFL 1.1, see LICENSE.txt): Times New Roman metrics, all Vietnamese letters."""
