"""Tasks shared by several apps (one implementation each): classification, documents."""

from .classification import classification_report, plot_confusion, stratified_folds, stratified_split

__all__ = ["stratified_split", "stratified_folds", "classification_report", "plot_confusion"]
