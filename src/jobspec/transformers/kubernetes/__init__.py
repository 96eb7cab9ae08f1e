"""The Kubernetes transformer: a jobspec as Kubernetes Jobs, its files in a ConfigMap.

Pure translation (no client, no network):

- ``manifests``: the ConfigMap and Job manifests, and the names Kubernetes accepts;
- ``outcome``: a Job and its pods read as a `JobStatus` (exit codes, stuck pods);
- ``ids``: job ids, ``k8s:<namespace>/<job name>``.

Talking to the API server (the official ``kubernetes`` client, the ``jobspec[kubernetes]``
extra, imported only when a server is talked to):

- ``client``: credentials, the `Session` and its calls, `KubeError`;
- ``follow``: the `Follower` that streams a Job's pod logs while it runs.

The steps and the transformer:

- ``state``: what the steps of one run share (`KubeRun`: names, files, session);
- ``staged_files``: write and copy, into the run's ConfigMap;
- ``steps``: submit and batch (Jobs, with the contract's life cycle) and auth;
- ``transformer``: `KubernetesTransformer` (settings, plan checks, status/wait/cancel by id).
"""
