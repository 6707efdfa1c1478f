/**
 * Pair distances for the distance-based losses (contrastive, online_contrastive, triplet),
 * chosen by the recipe's `loss.distance`. They follow sentence-transformers'
 * SiameseDistanceMetric / TripletDistanceMetric: cosine distance 1 - cos(u, v), and
 * torch.nn.functional.pairwise_distance for p = 2 (euclidean) and p = 1 (manhattan), which
 * adds ε = 1e-6 to the difference before the norm (this also keeps the euclidean gradient
 * finite when two embeddings coincide).
 * https://github.com/UKPLab/sentence-transformers/blob/master/sentence_transformers/losses/ContrastiveLoss.py
 */
import * as tf from '@tensorflow/tfjs-core';
import { pairwiseCosine } from '../similarity/index.js';

export type PairDistance = (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor1D;
export const DISTANCE_NAMES = ['cosine', 'euclidean', 'manhattan'] as const;
export type DistanceName = (typeof DISTANCE_NAMES)[number];

const PAIRWISE_EPS = 1e-6;

/** 1 - cos(u, v) of matching rows: [n, d] x [n, d] -> [n]. */
export const cosineDistance: PairDistance = (a, b) => tf.tidy(() => tf.sub(1, pairwiseCosine(a, b)) as tf.Tensor1D);

/** ‖a - b + ε‖₂ of matching rows: [n, d] x [n, d] -> [n]. */
export const euclideanDistance: PairDistance = (a, b) =>
  tf.tidy(() => tf.sqrt(tf.sum(tf.square(tf.add(tf.sub(a, b), PAIRWISE_EPS)), 1)) as tf.Tensor1D);

/** ‖a - b + ε‖₁ of matching rows: [n, d] x [n, d] -> [n]. */
export const manhattanDistance: PairDistance = (a, b) => tf.tidy(() => tf.sum(tf.abs(tf.add(tf.sub(a, b), PAIRWISE_EPS)), 1) as tf.Tensor1D);

export const DISTANCES: Record<DistanceName, PairDistance> = {
  cosine: cosineDistance,
  euclidean: euclideanDistance,
  manhattan: manhattanDistance,
};
