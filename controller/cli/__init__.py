"""The ``hiclaw`` command-line tool: drives the controller through its REST API only.

It never imports Django or the models, so it runs anywhere the API is reachable
(an agent container, an operator's laptop) with nothing but PyYAML installed.
"""
