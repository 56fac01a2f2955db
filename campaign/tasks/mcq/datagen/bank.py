"""The word bank behind the generated questions (pure data, no logic).

A question asks for one **subject** (``food``, ``animals``, ``colors``, ``places``): its
right choice is a member word of that subject and its three distractors are words of
three different **distractor categories** (tools, furniture, vehicles, weather) that
no question ever asks for. So exactly one choice fits, and the rule that decides it is
the category of each word present. Words were picked to belong to one category only:
no ``orange`` (a fruit and a colour), ``turkey`` (a bird, a dish and a country),
``salmon`` or ``gold``, and no ``動物園`` (a place that names animals).

Why distractors never come from another subject: the tiny local model (~1M
parameters, LoRA on random weights, trainable embeddings) learns "find the one subject
word and read its letter" from a few hundred rows, but not "find the word whose subject
the question names". Measured on CPU (mixed EN/JA, LoRA r 16, lr 2e-3, batch 16, 200
fresh eval rows): with distractors drawn from the other subjects it stayed at chance
(0.25) even after 2,000 optimizer steps; with this bank it reaches 0.92-1.00 after 500
rows x 5 epochs (160 steps, 3 seeds), 0.54-0.92 after 400 x 6 and only 0.23-0.44 after
400 x 4 (100 steps). A larger model answers either way, since the question always names
the right choice's subject. The distractor lists are short (3 words per category) so
that the words a model learns as "not a subject" are few and frequent.

Spelling rules that keep the tiny model's fixed tokens clean
(:meth:`campaign.tasks.mcq.MCQTask.tiny_tokens` makes ``" A"`` .. ``" D"`` single tokens,
matched anywhere in the text): English choices and explanations start in lower case,
and no English question holds a capitalised word starting with A-D after a space
(``Can``, ``Does``, ``Any``). Questions are short (English ones 4-6 tokens; a direct
prompt is at most 18 tokens of the tiny tokenizer), and every word and every Japanese
question is one token of that tokenizer, which is trained on this bank.
"""
from __future__ import annotations

__all__ = ["SUBJECTS", "WORDS", "DISTRACTORS", "QUESTIONS", "EXPLANATIONS"]

SUBJECTS = ("food", "animals", "colors", "places")

# Member words of each subject: the right choices.
WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "food": ("apple", "bread", "rice", "cheese", "banana", "soup", "cake", "egg", "noodles", "pizza", "carrot",
                 "grape", "cookie", "potato", "tomato", "butter", "honey", "melon", "sushi", "pasta"),
        "animals": ("dog", "cat", "horse", "cow", "lion", "tiger", "rabbit", "mouse", "bear", "wolf", "fox",
                    "sheep", "goat", "monkey", "eagle", "owl", "shark", "frog", "snake", "whale"),
        "colors": ("red", "blue", "green", "yellow", "purple", "pink", "black", "white", "brown", "gray", "navy",
                   "beige", "crimson", "indigo", "teal", "scarlet", "maroon", "cyan", "magenta", "turquoise"),
        "places": ("school", "park", "beach", "library", "hospital", "station", "airport", "museum", "market",
                   "church", "bank", "hotel", "farm", "forest", "desert", "island", "city", "village", "office",
                   "harbor"),
    },
    "ja": {
        "food": ("りんご", "パン", "ごはん", "チーズ", "バナナ", "スープ", "ケーキ", "卵", "うどん", "ピザ", "にんじん",
                 "ぶどう", "クッキー", "じゃがいも", "トマト", "バター", "はちみつ", "メロン", "すし", "豆腐"),
        "animals": ("犬", "猫", "馬", "牛", "ライオン", "虎", "うさぎ", "ねずみ", "熊", "狼", "狐", "羊", "やぎ", "猿",
                    "鷲", "ふくろう", "サメ", "かえる", "蛇", "くじら"),
        "colors": ("赤", "青", "緑", "黄色", "紫", "ピンク", "黒", "白", "茶色", "灰色", "紺色", "水色", "黄緑",
                   "藍色", "朱色", "ベージュ", "桃色", "紅色", "空色", "オレンジ色"),
        "places": ("学校", "公園", "海岸", "図書館", "病院", "駅", "空港", "博物館", "市場", "教会", "銀行", "ホテル",
                   "農場", "森", "砂漠", "島", "町", "村", "会社", "神社"),
    },
}

# Words of categories no question asks for: the distractors, one category per distractor.
DISTRACTORS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {"tools": ("hammer", "saw", "wrench"), "furniture": ("chair", "sofa", "shelf"),
           "vehicles": ("car", "bus", "truck"), "weather": ("rain", "snow", "fog")},
    "ja": {"tools": ("金づち", "のこぎり", "スパナ"), "furniture": ("椅子", "ソファ", "棚"),
           "vehicles": ("車", "バス", "トラック"), "weather": ("雨", "雪", "霧")},
}

QUESTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "food": ("Which is a food?", "Which one is food?", "Pick the food.", "Find the food."),
        "animals": ("Which is an animal?", "Which one is an animal?", "Pick the animal.", "Find the animal."),
        "colors": ("Which is a color?", "Which one is a color?", "Pick the color.", "Find the color."),
        "places": ("Which is a place?", "Which one is a place?", "Pick the place.", "Find the place."),
    },
    "ja": {
        "food": ("次のうち食べ物はどれ？", "食べられるものはどれ？", "食べ物を選んでください。", "どれが食べ物ですか？"),
        "animals": ("次のうち動物はどれ？", "生き物はどれ？", "動物を選んでください。", "どれが動物ですか？"),
        "colors": ("次のうち色はどれ？", "色の名前はどれ？", "色を選んでください。", "どれが色ですか？"),
        "places": ("次のうち場所はどれ？", "行ける場所はどれ？", "場所を選んでください。", "どれが場所ですか？"),
    },
}

# '{word}' is the right choice's text.
EXPLANATIONS: dict[str, dict[str, str]] = {
    "en": {"food": "{word} is a food.", "animals": "{word} is an animal.", "colors": "{word} is a color.",
           "places": "{word} is a place."},
    "ja": {"food": "{word}は食べ物です。", "animals": "{word}は動物です。", "colors": "{word}は色です。",
           "places": "{word}は場所です。"},
}
