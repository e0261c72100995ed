"""Names of the real on-disk layouts that a data set's reader and its synthetic writer share,
here so that neither imports the other (the reader calls the writer for the synthetic set)."""

from semcom_exp.schema.data import VOC_CLASSES as _VOC_CLASSES

# VOC2012: the 20 object classes, in the data set's order (the schema's list)
VOC_CLASSES = _VOC_CLASSES

# UCF101: the video folder and the train/test list folder under ROOT
VIDEO_DIR = "UCF-101"
LISTS_DIR = "ucfTrainTestlist"

# LibriSpeech: written by the synthetic writer into ROOT; absent in a real copy
MARKER = "SYNTHETIC.json"
