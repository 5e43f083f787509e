"""Emotionally neutral everyday sentences, written for dalib, one list per language.

Like the acted corpora they stand in for, every speaker reads the same neutral
sentences in every emotion, so that the emotion is carried by how a sentence is
spoken, not by what it says.
"""

GERMAN = (
    "Der Schlüssel liegt neben der blauen Tasse auf dem Tisch",
    "Morgen fahren wir mit dem Zug nach Hamburg",
    "Die Fenster im zweiten Stock sind seit gestern offen",
    "Er hat das Paket am Nachmittag zur Post gebracht",
    "Das Treffen beginnt um halb neun im kleinen Saal",
    "Sie hat die Zeitung auf den Stuhl im Flur gelegt",
    "Wir haben den alten Schrank in den Keller getragen",
    "Der Bus hält heute nicht an der Kirche",
    "In der Küche steht noch ein Teller mit Suppe",
    "Die Kinder spielen im Garten hinter dem Haus",
)

ENGLISH = (
    "The letter is on the table next to the green lamp",
    "We are taking the early train to the coast tomorrow",
    "He left his coat in the car after the meeting",
    "The shop on the corner closes at six today",
    "She moved the boxes from the kitchen to the garage",
    "They painted the fence behind the house last week",
    "My brother is bringing the chairs for the party",
    "The plane landed two hours after the storm",
    "You will find the keys in the top drawer",
    "The children walked home along the river",
)

MANDARIN = (
    "桌子上放着一本红色的书",
    "我们明天早上坐火车去北京",
    "他把雨伞忘在公共汽车上了",
    "商店下午六点关门",
    "她把箱子从厨房搬到了门口",
    "上个星期他们在院子里种了几棵树",
    "我哥哥晚上会带椅子过来",
    "飞机在暴风雨之后两个小时降落了",
    "钥匙在最上面的抽屉里",
    "孩子们沿着河边走回家",
    "今天下午图书馆不开门",
    "这封信是昨天寄来的",
)

SENTENCES = {"de": GERMAN, "en": ENGLISH, "cmn": MANDARIN}
