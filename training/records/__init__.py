"""The plain records a front end shows or stores, torch-free (an import-linter contract).

Run records and the run history, a fit's summary, predictions, evaluation reports, the
finder's suspects, the dataset map, datasets and their health, `TrainConfig`, the network
catalogue, the model file's header, the clean-up journal and the events training emits. The
engine's layers above make them; the app imports them directly, on its GUI thread, without
loading torch.
"""
