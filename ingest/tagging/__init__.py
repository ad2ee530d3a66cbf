"""Passage tagging by adequacy component, country and UN-Habitat region (see ``tagger.Tagger``)."""
