"""The small encoder episode cache the encoder tests share (its fixture, ``encoder_data_env``,
is in tests/conftest.py): one world per family for train and val, one episode each."""

ENCODER_SMALL_DATA = "train_worlds=1,val_worlds=1,test_worlds=1,episodes_per_world=1,frame_stride=2"
