"""A transformer found by its module name (jobspec_<name>): it applies settings and skips every other step."""

from jobspec.plugin import EmptyStep, SetStep, Transformer, UnsetStep


class Transformer(Transformer):  # the registry looks for a class named Transformer in the module
    name = "echo"
    description = "a test plugin that accepts the core steps and does nothing"


Transformer.register_step(SetStep)
Transformer.register_step(UnsetStep)
for _name in ("write", "copy", "stage", "submit", "batch", "auth"):
    Transformer.register_step(EmptyStep, name=_name)
