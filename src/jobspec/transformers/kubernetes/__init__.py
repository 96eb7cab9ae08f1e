"""The Kubernetes transformer: a jobspec as Kubernetes Jobs, its files in a ConfigMap.

``manifests`` builds the objects (pure); ``client`` is the thin layer over the
official ``kubernetes`` client (the ``jobspec[kubernetes]`` extra), imported only
when a server is talked to; ``transformer`` maps the steps onto both.
"""
