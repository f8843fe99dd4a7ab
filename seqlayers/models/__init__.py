"""Models: Sequential, the functional Model, and what explains them."""
from .base import BaseModel
from .functional import Model
from .sequential import Sequential
