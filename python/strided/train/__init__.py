"""Training: the Trainer (fit / evaluate / predict), atomic checkpoints, an ensemble helper and the
`strided-train` command (``python -m strided.train``).

    from strided import data, losses, models, optim
    from strided.train import Trainer, EarlyStopping

    model = models.lenet5()
    opt = optim.Adam(model.parameters(), lr=2e-3)
    trainer = Trainer(model, opt, losses.CrossEntropyLoss(), transform=train_tf, eval_transform=eval_tf,
                      scheduler=optim.CosineAnnealingLR(opt, T_max=20), seed=0)
    history = trainer.fit((x_train, y_train), epochs=20, batch_size=64, val_data=(x_val, y_val),
                          early_stopping=EarlyStopping(patience=5), checkpoint_dir="ckpt")
    print(trainer.evaluate((x_test, y_test)))          # {'loss': ..., 'accuracy': ...}
    probs = trainer.predict(x_test)                     # (N, classes) probabilities

Data are ``(x, y)`` array pairs (wrapped in a shuffled, seeded strided.data.DataLoader with the trainer's
``transform`` for training and ``eval_transform`` for evaluation) or ready DataLoaders. Every batch is
moved to the model's device (strided._device.to_device), so a model on 'cuda' trains on CuPy arrays.

A checkpoint (``checkpoint_dir/last.npz`` every epoch, ``best.npz`` when the monitored metric improves)
holds the model, the optimizer state, the scheduler, the epoch, the history, the early-stopping state
and the seed, so ``resume=`` continues the run where it stopped.

What lives where (everything is re-exported here):
  trainer.py     Trainer and fit()
  callbacks.py   EarlyStopping
  checkpoint.py  save_checkpoint / load_checkpoint, written atomically, loaded only after every check
  predict.py     predict_proba, ensemble_predict and the batch helpers the Trainer shares
  build.py       models by name, sized for the data (the command line's and load_model's)
  deploy.py      load_model (strided.load_model) and Preprocess; the strided-predict command is
                 strided/predict.py
  cli.py         the strided-train command: build_parser, run, main (``__main__.py`` runs it)
Distributed (data-parallel) training, a later addition, is to get its own module beside these.
"""
from .callbacks import EarlyStopping
from .checkpoint import load_checkpoint, read_checkpoint_info, save_checkpoint
from .cli import DEFAULTS, build_parser, main, run
from .predict import ensemble_predict, predict_proba
from .trainer import Trainer, fit

__all__ = ["Trainer", "fit", "EarlyStopping", "save_checkpoint", "load_checkpoint", "read_checkpoint_info",
           "predict_proba", "ensemble_predict", "run", "main"]
