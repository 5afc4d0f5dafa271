# Targets for dvc.yaml's stages. A rule with one job per fold cannot be a target by name
# (its files depend on folds.k): this one names every fold's augmentation output at once.


localrules:
    augment_all_folds,


rule augment_all_folds:
    input:
        expand("results/folds/fold_{fold}/train_shard.pt", fold=FOLDS),
        expand("results/folds/fold_{fold}/samples.csv", fold=FOLDS),
