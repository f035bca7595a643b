"""Small custom layers shared by the backbones and heads, registered for ``.keras`` reloading."""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="facelab")
class L2Normalize(keras.layers.Layer):
    """x / max(‖x‖₂, ε) along the last axis: embeddings on the unit sphere, where squared
    Euclidean distance = 2 − 2·cosine (FaceNet, Schroff et al. 2015, Sec. 3)."""

    def __init__(self, epsilon: float = 1e-12, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, x):
        x = ops.cast(x, "float32")  # normalise in float32 even under a mixed policy
        return x / ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=-1, keepdims=True), self.epsilon ** 2))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="facelab")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """Keras 3 BatchNormalization computed with TensorFlow's fused kernel (as tf_keras does).

    Same variables, same config, same maths: the output is ``γ (x − μ_B) / √(σ²_B + ε) + β`` with
    the biased batch variance, and the moving statistics follow Keras 3's update rule exactly
    (TensorFlow's fused op returns the Bessel-corrected variance, so it is scaled back by
    (n−1)/n). Only the kernels differ: one fused forward op and one fused gradient op instead of
    ~10 elementwise ones, which is where Keras 3's BN loses time on CPU. Falls back to the plain
    layer on other backends, other axes, masks, renorm, synchronised statistics (several TensorFlow
    replicas), or inputs that are not 4-D.
    """

    def get_config(self):
        # synchronising is how it trained on several TensorFlow replicas, not part of the model: the
        # saved layer loads anywhere (Keras refuses synchronized=True outside TensorFlow)
        return {**super().get_config(), "synchronized": False}

    def _fusable(self, inputs, mask) -> bool:
        return (keras.backend.backend() == "tensorflow" and mask is None and not self.renorm
                and len(inputs.shape) == 4 and self.axis in (-1, 3) and not self.synchronized)

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        x = tf.cast(inputs, tf.float32)
        channels = x.shape[-1]
        gamma = tf.cast(self.gamma, tf.float32) if self.scale else tf.ones((channels,), tf.float32)
        beta = tf.cast(self.beta, tf.float32) if self.center else tf.zeros((channels,), tf.float32)
        if training and self.trainable:
            y, mean, var_unbiased = tf.compat.v1.nn.fused_batch_norm(
                x, gamma, beta, epsilon=self.epsilon, is_training=True, data_format="NHWC")[:3]
            n = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), tf.float32)
            variance = var_unbiased * tf.maximum(n - 1.0, 0.0) / n  # back to the biased batch variance
            m = self.momentum
            self.moving_mean.assign(tf.cast(self.moving_mean, tf.float32) * m + mean * (1.0 - m))
            self.moving_variance.assign(tf.cast(self.moving_variance, tf.float32) * m + variance * (1.0 - m))
        else:
            y = tf.compat.v1.nn.fused_batch_norm(
                x, gamma, beta, mean=tf.cast(self.moving_mean, tf.float32),
                variance=tf.cast(self.moving_variance, tf.float32), epsilon=self.epsilon, is_training=False,
                data_format="NHWC")[0]
        return tf.cast(y, self.compute_dtype)
