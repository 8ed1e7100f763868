"""The local console that ``make serve`` starts: the catalog's event flow, live deliveries,
traces, dead letters, images, orders and emails in the browser (``app.py``), and the flow
diagram it shares with the README (``flow.py``)."""
