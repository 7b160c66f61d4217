"""The English → Korean grammar of shared/toy-translation.md: examples, rules, refusals."""

import re
import unicodedata

import pytest

from transformer_course.grammar import (
    ADJECTIVES,
    CATEGORIES,
    KOREAN_TOKENS,
    NOUNS,
    STATES,
    VERBS,
    Because,
    Clause,
    Copula,
    NounPhrase,
    check,
    english,
    has_final_consonant,
    korean,
    parse,
    particle,
    referent,
    translate,
)

# The spec's Examples table, verbatim.
SPEC_EXAMPLES = [
    ("the rose is a flower", "장미 는 꽃 이다"),
    ("the cat is not a flower", "고양이 는 꽃 이 아니다"),
    ("the cat is sleeping", "고양이 는 자고 있다"),
    ("the cat eats the fish", "고양이 는 생선 을 먹는다"),
    ("the big dog saw the small bird", "큰 개 는 작은 새 를 봤다"),
    ("the bear and the rabbit ate the bread", "곰 과 토끼 는 빵 을 먹었다"),
    ("the old teacher read the old book", "늙은 선생님 은 낡은 책 을 읽었다"),
    ("the girl did not eat the apple", "소녀 는 사과 를 먹지 않았다"),
    ("the cat sat on the mat because it was tired", "고양이 는 피곤해서 매트 위 에 앉았다"),
    ("the cat sat on the mat because it was soft", "매트 가 부드러워서 고양이 는 그 위 에 앉았다"),
    ("the dog ate the cake because it was hungry", "개 는 배고파서 케이크 를 먹었다"),
    ("the dog ate the fresh fish because it was delicious", "신선한 생선 이 맛있어서 개 는 그것 을 먹었다"),
]


@pytest.mark.parametrize(("source", "expected"), SPEC_EXAMPLES)
def test_spec_examples(source, expected):
    assert translate(source) == expected
    assert english(parse(source)) == source


def _final_by_unicode(word: str) -> bool:
    """Independent oracle: a syllable with a final consonant decomposes into three jamo."""
    return len(unicodedata.normalize("NFD", word[-1])) == 3


def test_final_consonant_matches_unicode_decomposition():
    words = [n.korean for n in NOUNS] + [c.korean for c in CATEGORIES] + ["그것"]
    assert sum(map(_final_by_unicode, words)) not in (0, len(words))  # both kinds present
    for word in words:
        assert has_final_consonant(word) == _final_by_unicode(word), word


def test_final_consonant_refuses_non_hangul():
    with pytest.raises(ValueError, match="Hangul"):
        has_final_consonant("cat")


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("말", {"topic": "은", "subject": "이", "object": "을", "and": "과"}),
        ("소파", {"topic": "는", "subject": "가", "object": "를", "and": "와"}),
        ("선생님", {"topic": "은", "subject": "이", "object": "을", "and": "과"}),
        ("바나나", {"topic": "는", "subject": "가", "object": "를", "and": "와"}),
    ],
)
def test_particles(word, expected):
    assert {role: particle(word, role) for role in expected} == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # 말 (final consonant): 은 / 이 / 을 / 과.
        ("the horse is an animal", "말 은 동물 이다"),
        ("the dog chased the horse", "개 는 말 을 쫓았다"),
        ("the horse and the cat sleep", "말 과 고양이 는 잔다"),
        ("the horse is not a plant", "말 은 식물 이 아니다"),
        ("the dog ate the bread because it was delicious", "빵 이 맛있어서 개 는 그것 을 먹었다"),
        # 소파 / vowel-final nouns: 는 / 가 / 를 / 와.
        ("the sofa is furniture", "소파 는 가구 이다"),
        ("the cat sees the sofa", "고양이 는 소파 를 본다"),
        ("the cat is not furniture", "고양이 는 가구 가 아니다"),
        ("the baby and the horse sleep", "아기 와 말 은 잔다"),
        ("the cat sat on the sofa because it was soft", "소파 가 부드러워서 고양이 는 그 위 에 앉았다"),
    ],
)
def test_particles_in_sentences(source, expected):
    assert translate(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("the old cat sleeps", "늙은 고양이 는 잔다"),
        ("the old student likes the old hat", "늙은 학생 은 낡은 모자 를 좋아한다"),
        ("the dog sat on the old chair", "개 는 낡은 의자 위 에 앉았다"),
        ("the young girl saw the red box", "어린 소녀 는 빨간 상자 를 봤다"),
        ("the black bear found the fresh apple", "검은 곰 은 신선한 사과 를 찾았다"),
        ("the pretty tulip is a flower", "예쁜 튤립 은 꽃 이다"),
        ("the white rabbit likes the fresh rose", "하얀 토끼 는 신선한 장미 를 좋아한다"),
    ],
)
def test_adjectives(source, expected):
    assert translate(source) == expected


@pytest.mark.parametrize(
    ("source", "adjective", "noun"),
    [
        ("the old apple is food", "old", "apple"),
        ("the cat likes the old rose", "old", "rose"),
        ("the young chair is furniture", "young", "chair"),
        ("the fresh cat sleeps", "fresh", "cat"),
        ("the red dog sleeps", "red", "dog"),
        ("the cat ate the black cake", "black", "cake"),
    ],
)
def test_adjective_class_restrictions(source, adjective, noun):
    with pytest.raises(ValueError, match=f"'{adjective}' does not go with '{noun}'"):
        translate(source)


@pytest.mark.parametrize(
    ("source", "expected", "role"),
    [
        # "it" is the subject: the state follows the subject's topic particle.
        ("the bird slept because it was tired", "새 는 피곤해서 잤다", "subject"),
        ("the cat sleeps on the bed because it is sleepy", "고양이 는 졸려서 침대 위 에서 잔다", "subject"),
        ("the big horse likes the apple because it is happy", "큰 말 은 기뻐서 사과 를 좋아한다", "subject"),
        # "it" is the object: 그것 을, the object keeps its adjective.
        (
            "the student read the old book because it was interesting",
            "낡은 책 이 재미있어서 학생 은 그것 을 읽었다",
            "object",
        ),
        (
            "the boy likes the chair because it is comfortable",
            "의자 가 편해서 소년 은 그것 을 좋아한다",
            "object",
        ),
        ("the cat caught the ball because it was light", "공 이 가벼워서 고양이 는 그것 을 잡았다", "object"),
        # "it" is the place: 그 위 에 for sit, 그 위 에서 for sleep.
        (
            "the dog sits on the old sofa because it is clean",
            "낡은 소파 가 깨끗해서 개 는 그 위 에 앉는다",
            "place",
        ),
        (
            "the cat slept on the bed because it was warm",
            "침대 가 따뜻해서 고양이 는 그 위 에서 잤다",
            "place",
        ),
        (
            "the young cat sleeps on the red mat because it is soft",
            "빨간 매트 가 부드러워서 어린 고양이 는 그 위 에서 잔다",
            "place",
        ),
    ],
)
def test_it(source, expected, role):
    assert translate(source) == expected
    sentence = parse(source)
    assert isinstance(sentence, Because) and referent(sentence) == role


def test_it_decided_by_the_last_word():
    a = translate("the cat sat on the box because it was hungry")
    b = translate("the cat sat on the box because it was clean")
    assert a.split()[0] == "고양이" and b.split()[0] == "상자"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("the cat does not eat the fish", "고양이 는 생선 을 먹지 않는다"),
        ("the dog did not sleep", "개 는 자지 않았다"),
        ("the girl does not see the cat", "소녀 는 고양이 를 보지 않는다"),
        ("the boy did not like the cake", "소년 은 케이크 를 좋아하지 않았다"),
        ("the bird does not sit on the box", "새 는 상자 위 에 앉지 않는다"),
        ("the boy was reading the book", "소년 은 책 을 읽고 있었다"),
        ("the dog is chasing the cat", "개 는 고양이 를 쫓고 있다"),
        ("the bear was eating the rice", "곰 은 밥 을 먹고 있었다"),
        ("the cat is sleeping on the sofa", "고양이 는 소파 위 에서 자고 있다"),
        ("the rabbit finds the cup", "토끼 는 컵 을 찾는다"),
        ("the bear catches the ball", "곰 은 공 을 잡는다"),
        ("the girl sits on the table", "소녀 는 식탁 위 에 앉는다"),
        ("the dog sleeps on the bed", "개 는 침대 위 에서 잔다"),
    ],
)
def test_tense_negation_progressive(source, expected):
    assert translate(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("the cat and the dog eat the fish", "고양이 와 개 는 생선 을 먹는다"),
        ("the cat and the dog ate the fish", "고양이 와 개 는 생선 을 먹었다"),
        ("the cat and the dog are chasing the bird", "고양이 와 개 는 새 를 쫓고 있다"),
        (
            "the big cat and the old dog were sleeping on the sofa",
            "큰 고양이 와 늙은 개 는 소파 위 에서 자고 있었다",
        ),
        ("the boy and the girl do not read the book", "소년 과 소녀 는 책 을 읽지 않는다"),
        ("the boy and the girl did not sit on the bed", "소년 과 소녀 는 침대 위 에 앉지 않았다"),
        # "read" after a joined subject is the past: the present would read the same.
        ("the boy and the girl read the book", "소년 과 소녀 는 책 을 읽었다"),
        ("the teacher reads the book", "선생님 은 책 을 읽는다"),
        ("the teacher read the book", "선생님 은 책 을 읽었다"),
    ],
)
def test_joined_subjects(source, expected):
    assert translate(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("the cat is an animal", "고양이 는 동물 이다"),
        ("the student is a person", "학생 은 사람 이다"),
        ("the banana is a fruit", "바나나 는 과일 이다"),
        ("the banana is food", "바나나 는 음식 이다"),
        ("the tree is a plant", "나무 는 식물 이다"),
        ("the bed is furniture", "침대 는 가구 이다"),
        ("the tree is not a flower", "나무 는 꽃 이 아니다"),
        ("the book is not an animal", "책 은 동물 이 아니다"),
        ("the rice is not a fruit", "밥 은 과일 이 아니다"),
        ("the apple is not furniture", "사과 는 가구 가 아니다"),
    ],
)
def test_copula(source, expected):
    assert translate(source) == expected


def test_copula_truth_is_decided_by_the_fact_table():
    true = {(n.english, c.english) for c in CATEGORIES for n in NOUNS if n.english in c.members}
    assert len(true) == 32  # the spec's facts, counted by hand: 7 + 6 + 5 + 4 + 4 + 6
    for noun in NOUNS:
        for category in CATEGORIES:
            article = f"{category.article} " if category.article else ""
            positive = f"the {noun.english} is {article}{category.english}"
            negative = f"the {noun.english} is not {article}{category.english}"
            right, wrong = (
                (positive, negative) if (noun.english, category.english) in true else (negative, positive)
            )
            assert translate(right).endswith("이다" if right == positive else "아니다")
            with pytest.raises(ValueError, match="true"):
                translate(wrong)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("the dogs ate the fish", "unknown word 'dogs'"),
        ("the cat ate the sushi", "unknown word 'sushi'"),
        ("The cat sleeps", "unknown word 'The'.*lower case"),
        ("the cat sleeps.", "unknown word 'sleeps.'.*punctuation"),
        ("the cat is sitting", "unknown word 'sitting'"),
        ("", "empty sentence"),
        ("the cat is a flower", "'the cat is a flower' is not a true fact: use 'is not'"),
        ("the rose is not a flower", "is not true: use 'is'"),
        ("the cat is a animal", "write 'is an animal'"),
        ("the rose is an flower", "write 'is a flower'"),
        ("the sofa is a furniture", "write 'is furniture'"),
        ("the cat is animal", "write 'is an animal'"),
        ("the cat is a dog", "'dog' is not a category"),
        ("the cat was an animal", "present only"),
        ("the cat and the dog is an animal", "plural nouns"),
        ("the animal sleeps", "'animal' is a category"),
        ("the cat is big", "adjectives go before a noun"),
        ("the big old cat sleeps", "at most one adjective"),
        ("a cat sleeps", "write 'the'"),
        ("it sleeps", "'it' is used only in 'because it"),
        ("the cat chased the cat", "cannot chase itself"),
        ("the cat and the dog chased the dog", "cannot chase itself"),
        ("the cat and the cat sleep", "joins a noun with itself"),
        ("the cat and the dog and the bird sleep", "at most two subjects"),
        ("the cat eat the fish", "a single subject takes 'eats'"),
        ("the cat and the dog eats the fish", "a joined subject takes the plural 'eat'"),
        ("the boy and the girl reads the book", "a joined subject takes the plural 'read'"),
        ("the cat are sleeping", "use 'is'"),
        ("the cat and the dog was sleeping", "use 'were'"),
        ("the cat do not sleep", "use 'does'"),
        ("the cat is not eating the fish", "negated progressive is not covered"),
        ("the cat does not sleeping", "expected a verb's base form"),
        ("the cat ate the book", "'eat' takes food, not 'book'"),
        ("the dog read the book", "'read' needs a person as its subject, not 'dog'"),
        ("the book sat on the mat", "needs a person or animal as its subject"),
        ("the cat sat", "expected 'on the ...'"),
        ("the cat sat on the apple", "'sit' takes 'on' and furniture, not 'apple'"),
        ("the cat sees", "the sentence ends after 'the cat sees'"),
        ("the cat sleeps the mat", "unexpected 'the' after 'the cat sleeps'"),
        ("the cat ate the fish because it was soft", "'it' cannot be soft"),
        ("the cat chased the dog because it was tired", "'it' is ambiguous"),
        ("the cat saw the cat because it was happy", "'it' is ambiguous"),
        ("the cat ate the fish because it is hungry", "use 'because it was hungry'"),
        ("the cat eats the fish because it was hungry", "use 'because it is hungry'"),
        ("the cat and the dog slept because it was tired", "single-noun subject"),
        ("the cat is sleeping because it is tired", "plain present or past"),
        ("the cat did not sleep because it was tired", "plain present or past"),
        ("the rose is a flower because it is fresh", "because-clause follows a clause with a verb"),
        ("the cat slept because it was", "expected a state"),
    ],
)
def test_refusals_name_the_problem(source, message):
    with pytest.raises(ValueError, match=message):
        translate(source)


def test_check_refuses_trees_the_parser_never_builds():
    read = Clause((NounPhrase("boy"), NounPhrase("girl")), "read", NounPhrase("book"))
    with pytest.raises(ValueError, match="read as the past"):
        check(read)
    assert korean(Clause(read.subjects, "read", NounPhrase("book"), past=True)) == (
        "소년 과 소녀 는 책 을 읽었다"
    )
    with pytest.raises(ValueError, match="no progressive"):
        check(Clause((NounPhrase("cat"),), "see", NounPhrase("dog"), aspect="progressive"))
    with pytest.raises(ValueError, match="unknown verb"):
        check(Clause((NounPhrase("cat"),), "fly"))
    with pytest.raises(ValueError, match="'see' needs any noun"):
        check(Clause((NounPhrase("cat"),), "see"))
    with pytest.raises(ValueError, match="unknown state"):
        check(Because(Clause((NounPhrase("cat"),), "sleep"), "angry"))
    with pytest.raises(ValueError, match="not a category"):
        check(Copula(NounPhrase("cat"), "dog", negated=True))


def test_tables_are_consistent():
    classes = {n.cls for n in NOUNS}
    for table in (ADJECTIVES, STATES):
        assert all(entry.classes <= classes for entry in table)
    for verb in VERBS:
        assert verb.subjects <= classes
        assert verb.korean_present.startswith(verb.stem[:-1])
        assert bool(verb.objects) != bool(verb.places)  # an object or a place, never both
    assert len({n.english for n in NOUNS}) == len(NOUNS) == 32
    # "old" has two translations; every other adjective one, with disjoint classes for "old".
    old = [a for a in ADJECTIVES if a.english == "old"]
    assert {a.korean for a in old} == {"늙은", "낡은"} and not (old[0].classes & old[1].classes)


def test_korean_tokens_are_single_tokens():
    assert all(token and not re.search(r"\s", token) for token in KOREAN_TOKENS)
