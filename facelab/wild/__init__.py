"""Faces in the wild: your own photos through a method trained and calibrated on LFW.

A front-end room (``facelab enrol``, ``identify``, ``search``, ``cluster``). It reads photos and
finds faces with the data room's OpenCV code, embeds them with a registered method, scores them
with the evaluation room's gallery search and takes its open-set threshold from the evaluator's
DIR@FAR rule on LFW people the method never trained on. Only the command line imports it.
"""
