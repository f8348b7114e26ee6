"""Pure card building: findings -> CDS Hooks cards, with wording from ``cards/data``."""

from cards.builder import CardContext as CardContext
from cards.builder import build_cards as build_cards
from cards.wording import CardWording as CardWording
from cards.wording import WordingError as WordingError
from cards.wording import load_card_wording as load_card_wording
