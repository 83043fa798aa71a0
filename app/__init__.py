"""Streamlit glue shared by the pages: state keys, cached resources, chart builders, widget groups."""
