"""Names of the real on-disk layouts that a data set's reader and its synthetic writer share,
here so that neither imports the other (the reader calls the writer for the synthetic set)."""

# VOC2012: the 20 object classes, in the data set's order
VOC_CLASSES = (
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)

# UCF101: the video folder and the train/test list folder under ROOT
VIDEO_DIR = "UCF-101"
LISTS_DIR = "ucfTrainTestlist"

# LibriSpeech: written by the synthetic writer into ROOT; absent in a real copy
MARKER = "SYNTHETIC.json"
