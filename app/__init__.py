"""Streamlit glue shared by the pages: state keys, cached resources, chart builders, widget groups."""
# Plotly imports pandas the first time a figure is made. The first reruns of a fresh process run in threads at
# once, and two threads importing pandas together can find it half made ("partially initialized module 'pandas'
# has no attribute 'Series'", seen under 10 sessions on a new process). Importing it here, under the import
# lock of this package that every page goes through, makes it whole before any page runs.
import pandas  # noqa: F401
