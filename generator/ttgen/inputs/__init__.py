"""The inputs of a render: experiment.yaml, the base config, and torchtune's catalog of configs.

- `experiment`: read experiment.yaml and check its shape against the JSON Schema.
- `base`: find and read the base config (shipped by torchtune, or a file).
- `catalog`: torchtune's shipped configs and recipes, read without importing torch.
- `starter`: a commented starter experiment.yaml for a base config (``ttgen init``).
"""
