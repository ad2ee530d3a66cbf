// UI strings and facet value labels for the search page, in English, French, Spanish and Arabic.
// Country names come from the browser (Intl.DisplayNames) so that every ISO code gets a localized name
// without shipping a country table per language.
//
// Example: setLanguage("fr"); t("search") === "Rechercher"

export const SUPPORTED = ["en", "fr", "es", "ar"];
export const LANGUAGE_NAMES = { en: "English", fr: "Français", es: "Español", ar: "العربية" };
const RTL = new Set(["ar", "he", "fa", "ur", "ps", "yi"]);

const MESSAGES = {
  en: {
    countriesNav: "Countries",
    countriesTitle: "Countries: housing data and evidence",
    countriesIntro: "Latest SDG housing figures (with their year) next to the evidence the collection holds. Click a column heading to sort, a country to search its evidence.",
    colCountry: "Country",
    colRegion: "Region",
    colDocuments: "Documents",
    colPassages: "Passages",
    noData: "no data",
    loadingCountries: "Loading countries…",
    countriesFailed: "Could not load the countries: {message}",
    countryEvidence: "{docs} documents and {passages} passages about it in the collection",
    countryNoEvidence: "The collection has no evidence for this country yet.",
    countryGaps: "No evidence on: {list}",
    countrySource: "Source: {source}",
    filterToCountry: "Show only {country}",
    filtersOnly: "{n} passages match the filters. Type a question to search them.",
    trendSince: "{change} points since {year}",
    countryCardLabel: "Country profile",
    sortBy: "Sort by {column}",
    backToSearch: "Back to search",
    appName: "Housing Policy Knowledge Base",
    tagline: "Cited evidence on adequate housing, in the UN languages",
    skip: "Skip to results",
    uiLanguage: "Interface language",
    heroTitle: "Search housing policy evidence",
    heroText:
      "Laws, national strategies, case studies and UN-Habitat reports in seven languages. Every result cites its document, page and paragraph.",
    searchLabel: "Search the knowledge base",
    searchPlaceholder: "e.g. security of tenure in informal settlements",
    search: "Search",
    suggestionsLabel: "Suggestions",
    tryLabel: "Try:",
    kind_title: "Document",
    kind_country: "Country",
    kind_component: "Component",
    kind_region: "Region",
    filters: "Filters",
    clearFilters: "Clear all",
    facet_component: "Adequacy component",
    facet_region: "Region",
    facet_stage: "Supply-chain stage",
    evidenceTerms: "supporting terms",
    facet_country: "Country",
    facet_document_type: "Document type",
    facet_language: "Language",
    facet_year: "Year",
    yearFrom: "From",
    yearTo: "To",
    anyYear: "Any",
    showAll: "Show all ({n})",
    showFewer: "Show fewer",
    noValues: "None for this query",
    activeFilters: "Active filters",
    removeFilter: "Remove filter: {label}",
    searching: "Searching…",
    resultsCount: "{total} matching passages, showing {from}–{to}",
    alsoMatching: "Also matching, in other languages:",
    noResults: "No passages match. Try removing a filter or rephrasing the question.",
    machineTranslation: "Machine translation ({model}), not the source text:",
    otherEditions: "Also in:",
    matchedAs: "Matched your words:",
    noGoodMatch: "No good match: the collection holds nothing close to this question. The closest passages follow.",
    nearbyTopics: "Topics the collection covers:",
    weakMatches: "{total} matching passages, showing {from}–{to}; only weak matches.",
    searchFailed: "Search failed: {message}",
    loadMore: "Show more results",
    results: "Results",
    openDocument: "Open in document",
    examples: "Examples from other countries",
    source: "Source",
    page: "p. {n}",
    pages: "pp. {a}–{b}",
    paragraph: "para. {p}",
    paragraphs: "paras. {p}",
    showFull: "Show full passage",
    showLess: "Show less",
    filterBy: "Filter by {label}",
    tags: "Tags",
    untaggedNote: "not tagged",
    gapTitle: "Evidence map",
    gapCaption:
      "Passages among the top {n} results for “{q}”, by region and adequacy component. Hatched cells show where the corpus is thin.",
    gapUntagged: "The passages found carry no component tags yet, so the map cannot show gaps.",
    gapLoading: "Building the evidence map…",
    gapRegion: "Region",
    gapTotal: "All passages",
    gapComponent: "Component",
    gapCell: "{component}, {region}: {n} passages",
    gapLegendFew: "fewer",
    gapLegendMany: "more",
    gapLegendNone: "no evidence",
    briefTitle: "Policy brief",
    briefText: "A cited brief on “{q}”: summary, evidence by component and region, examples, gap map and references.",
    briefFormat: "Format",
    briefDownload: "Download brief",
    briefPreparing: "Preparing the brief…",
    briefReady: "Brief downloaded.",
    briefFailed: "Could not prepare the brief: {message}",
    examplesIntro: "Passages on the same topic from other countries.",
    examplesLoading: "Finding examples…",
    examplesNone: "No comparable examples found.",
    close: "Close",
    backToResults: "Back to search",
    passagesCount: "{n} passages",
    documentNotFound: "Document not found.",
    loading: "Loading…",
    metaPublisher: "Publisher",
    metaYear: "Year",
    metaType: "Type",
    metaCountries: "Countries",
    metaLanguage: "Language",
    metaPages: "Pages",
    originalDocument: "Original document",
    contents: "Passages",
    footer: "Every excerpt links to its page in the source document.",
    apiDocs: "API documentation",
    welcomeTitle: "What you can find here",
    welcomeText:
      "Ask in any UN language: results come from documents in all of them. Narrow by adequacy component (CESCR General Comment No. 4), region, country, document type, language or year.",
  },
  fr: {
    countriesNav: "Pays",
    countriesTitle: "Pays : données sur le logement et éléments probants",
    countriesIntro: "Derniers chiffres des ODD sur le logement (avec leur année) et les éléments que la collection contient. Cliquez sur un en-tête pour trier, sur un pays pour chercher dans ses documents.",
    colCountry: "Pays",
    colRegion: "Région",
    colDocuments: "Documents",
    colPassages: "Passages",
    noData: "pas de données",
    loadingCountries: "Chargement des pays…",
    countriesFailed: "Impossible de charger les pays : {message}",
    countryEvidence: "{docs} documents et {passages} passages le concernent dans la collection",
    countryNoEvidence: "La collection ne contient encore aucun élément sur ce pays.",
    countryGaps: "Aucun élément sur : {list}",
    countrySource: "Source : {source}",
    filterToCountry: "Seulement {country}",
    filtersOnly: "{n} passages correspondent aux filtres. Posez une question pour y chercher.",
    trendSince: "{change} points depuis {year}",
    countryCardLabel: "Profil du pays",
    sortBy: "Trier par {column}",
    backToSearch: "Retour à la recherche",
    appName: "Base de connaissances sur les politiques du logement",
    tagline: "Des données citées sur le logement convenable, dans les langues de l’ONU",
    skip: "Aller aux résultats",
    uiLanguage: "Langue de l’interface",
    heroTitle: "Rechercher dans les politiques du logement",
    heroText:
      "Lois, stratégies nationales, études de cas et rapports d’ONU-Habitat en sept langues. Chaque résultat cite son document, sa page et son paragraphe.",
    searchLabel: "Rechercher dans la base",
    searchPlaceholder: "ex. sécurité d’occupation dans les quartiers informels",
    search: "Rechercher",
    suggestionsLabel: "Suggestions",
    tryLabel: "Essayez :",
    kind_title: "Document",
    kind_country: "Pays",
    kind_component: "Composante",
    kind_region: "Région",
    filters: "Filtres",
    clearFilters: "Tout effacer",
    facet_component: "Composante du logement convenable",
    facet_region: "Région",
    facet_stage: "Étape de la chaîne du logement",
    evidenceTerms: "termes à l’appui",
    facet_country: "Pays",
    facet_document_type: "Type de document",
    facet_language: "Langue",
    facet_year: "Année",
    yearFrom: "De",
    yearTo: "À",
    anyYear: "Toutes",
    showAll: "Tout afficher ({n})",
    showFewer: "Afficher moins",
    noValues: "Aucune valeur pour cette requête",
    activeFilters: "Filtres actifs",
    removeFilter: "Retirer le filtre : {label}",
    searching: "Recherche…",
    resultsCount: "{total} passages correspondants, affichage {from}–{to}",
    alsoMatching: "Correspond aussi, dans d’autres langues, à :",
    noResults: "Aucun passage ne correspond. Retirez un filtre ou reformulez la question.",
    machineTranslation: "Traduction automatique ({model}), pas le texte source :",
    otherEditions: "Aussi en :",
    matchedAs: "Vos mots trouvés :",
    noGoodMatch: "Aucune bonne correspondance : la collection ne contient rien de proche de cette question. Voici les passages les plus proches.",
    nearbyTopics: "Thèmes couverts par la collection :",
    weakMatches: "{total} passages correspondants, affichage {from}–{to} ; correspondances faibles seulement.",
    searchFailed: "La recherche a échoué : {message}",
    loadMore: "Afficher plus de résultats",
    results: "Résultats",
    openDocument: "Ouvrir dans le document",
    examples: "Exemples d’autres pays",
    source: "Source",
    page: "p. {n}",
    pages: "p. {a}–{b}",
    paragraph: "§ {p}",
    paragraphs: "§ {p}",
    showFull: "Afficher tout le passage",
    showLess: "Afficher moins",
    filterBy: "Filtrer par {label}",
    tags: "Étiquettes",
    untaggedNote: "non étiqueté",
    gapTitle: "Carte des données",
    gapCaption:
      "Passages parmi les {n} premiers résultats pour « {q} », par région et composante. Les cases hachurées montrent où le corpus est lacunaire.",
    gapUntagged: "Les passages trouvés ne portent pas encore d’étiquettes de composante : la carte ne peut pas montrer les lacunes.",
    gapLoading: "Construction de la carte…",
    gapRegion: "Région",
    gapTotal: "Tous les passages",
    gapComponent: "Composante",
    gapCell: "{component}, {region} : {n} passages",
    gapLegendFew: "moins",
    gapLegendMany: "plus",
    gapLegendNone: "aucune donnée",
    briefTitle: "Note de synthèse",
    briefText: "Une note citée sur « {q} » : résumé, données par composante et région, exemples, carte des lacunes et références.",
    briefFormat: "Format",
    briefDownload: "Télécharger la note",
    briefPreparing: "Préparation de la note…",
    briefReady: "Note téléchargée.",
    briefFailed: "Impossible de préparer la note : {message}",
    examplesIntro: "Passages sur le même sujet provenant d’autres pays.",
    examplesLoading: "Recherche d’exemples…",
    examplesNone: "Aucun exemple comparable trouvé.",
    close: "Fermer",
    backToResults: "Retour à la recherche",
    passagesCount: "{n} passages",
    documentNotFound: "Document introuvable.",
    loading: "Chargement…",
    metaPublisher: "Éditeur",
    metaYear: "Année",
    metaType: "Type",
    metaCountries: "Pays",
    metaLanguage: "Langue",
    metaPages: "Pages",
    originalDocument: "Document original",
    contents: "Passages",
    footer: "Chaque extrait renvoie à sa page dans le document source.",
    apiDocs: "Documentation de l’API",
    welcomeTitle: "Ce que vous trouverez ici",
    welcomeText:
      "Posez votre question dans n’importe quelle langue de l’ONU : les résultats viennent de documents dans toutes ces langues. Affinez par composante (Observation générale no 4 du CDESC), région, pays, type de document, langue ou année.",
  },
  es: {
    countriesNav: "Países",
    countriesTitle: "Países: datos de vivienda y evidencia",
    countriesIntro: "Últimas cifras de vivienda de los ODS (con su año) junto a la evidencia que reúne la colección. Haga clic en un encabezado para ordenar y en un país para buscar en su evidencia.",
    colCountry: "País",
    colRegion: "Región",
    colDocuments: "Documentos",
    colPassages: "Pasajes",
    noData: "sin datos",
    loadingCountries: "Cargando países…",
    countriesFailed: "No se pudieron cargar los países: {message}",
    countryEvidence: "{docs} documentos y {passages} pasajes sobre el país en la colección",
    countryNoEvidence: "La colección aún no tiene evidencia sobre este país.",
    countryGaps: "Sin evidencia sobre: {list}",
    countrySource: "Fuente: {source}",
    filterToCountry: "Solo {country}",
    filtersOnly: "{n} pasajes cumplen los filtros. Escriba una pregunta para buscar en ellos.",
    trendSince: "{change} puntos desde {year}",
    countryCardLabel: "Perfil del país",
    sortBy: "Ordenar por {column}",
    backToSearch: "Volver a la búsqueda",
    appName: "Base de conocimiento sobre políticas de vivienda",
    tagline: "Evidencia citada sobre vivienda adecuada, en los idiomas de la ONU",
    skip: "Ir a los resultados",
    uiLanguage: "Idioma de la interfaz",
    heroTitle: "Buscar evidencia sobre políticas de vivienda",
    heroText:
      "Leyes, estrategias nacionales, estudios de caso e informes de ONU-Hábitat en siete idiomas. Cada resultado cita su documento, página y párrafo.",
    searchLabel: "Buscar en la base de conocimiento",
    searchPlaceholder: "p. ej. seguridad de la tenencia en asentamientos informales",
    search: "Buscar",
    suggestionsLabel: "Sugerencias",
    tryLabel: "Pruebe:",
    kind_title: "Documento",
    kind_country: "País",
    kind_component: "Componente",
    kind_region: "Región",
    filters: "Filtros",
    clearFilters: "Borrar todo",
    facet_component: "Componente de la vivienda adecuada",
    facet_region: "Región",
    facet_stage: "Etapa de la cadena de la vivienda",
    evidenceTerms: "términos de apoyo",
    facet_country: "País",
    facet_document_type: "Tipo de documento",
    facet_language: "Idioma",
    facet_year: "Año",
    yearFrom: "Desde",
    yearTo: "Hasta",
    anyYear: "Cualquiera",
    showAll: "Mostrar todos ({n})",
    showFewer: "Mostrar menos",
    noValues: "Ninguno para esta búsqueda",
    activeFilters: "Filtros activos",
    removeFilter: "Quitar filtro: {label}",
    searching: "Buscando…",
    resultsCount: "{total} pasajes coincidentes, mostrando {from}–{to}",
    alsoMatching: "También coincide, en otros idiomas, con:",
    noResults: "Ningún pasaje coincide. Quite un filtro o reformule la pregunta.",
    machineTranslation: "Traducción automática ({model}), no el texto original:",
    otherEditions: "También en:",
    matchedAs: "Sus palabras encontradas:",
    noGoodMatch: "Sin buena coincidencia: la colección no contiene nada cercano a esta pregunta. Siguen los pasajes más cercanos.",
    nearbyTopics: "Temas que cubre la colección:",
    weakMatches: "{total} pasajes coincidentes, mostrando {from}–{to}; solo coincidencias débiles.",
    searchFailed: "La búsqueda falló: {message}",
    loadMore: "Mostrar más resultados",
    results: "Resultados",
    openDocument: "Abrir en el documento",
    examples: "Ejemplos de otros países",
    source: "Fuente",
    page: "p. {n}",
    pages: "pp. {a}–{b}",
    paragraph: "párr. {p}",
    paragraphs: "párrs. {p}",
    showFull: "Mostrar el pasaje completo",
    showLess: "Mostrar menos",
    filterBy: "Filtrar por {label}",
    tags: "Etiquetas",
    untaggedNote: "sin etiquetar",
    gapTitle: "Mapa de evidencia",
    gapCaption:
      "Pasajes entre los {n} primeros resultados para «{q}», por región y componente. Las celdas rayadas muestran dónde el corpus es escaso.",
    gapUntagged: "Los pasajes encontrados aún no tienen etiquetas de componente, así que el mapa no puede mostrar vacíos.",
    gapLoading: "Construyendo el mapa…",
    gapRegion: "Región",
    gapTotal: "Todos los pasajes",
    gapComponent: "Componente",
    gapCell: "{component}, {region}: {n} pasajes",
    gapLegendFew: "menos",
    gapLegendMany: "más",
    gapLegendNone: "sin evidencia",
    briefTitle: "Nota de política",
    briefText: "Una nota citada sobre «{q}»: resumen, evidencia por componente y región, ejemplos, mapa de vacíos y referencias.",
    briefFormat: "Formato",
    briefDownload: "Descargar la nota",
    briefPreparing: "Preparando la nota…",
    briefReady: "Nota descargada.",
    briefFailed: "No se pudo preparar la nota: {message}",
    examplesIntro: "Pasajes sobre el mismo tema de otros países.",
    examplesLoading: "Buscando ejemplos…",
    examplesNone: "No se encontraron ejemplos comparables.",
    close: "Cerrar",
    backToResults: "Volver a la búsqueda",
    passagesCount: "{n} pasajes",
    documentNotFound: "Documento no encontrado.",
    loading: "Cargando…",
    metaPublisher: "Editor",
    metaYear: "Año",
    metaType: "Tipo",
    metaCountries: "Países",
    metaLanguage: "Idioma",
    metaPages: "Páginas",
    originalDocument: "Documento original",
    contents: "Pasajes",
    footer: "Cada extracto enlaza con su página en el documento fuente.",
    apiDocs: "Documentación de la API",
    welcomeTitle: "Qué encontrará aquí",
    welcomeText:
      "Pregunte en cualquier idioma de la ONU: los resultados provienen de documentos en todos ellos. Filtre por componente (Observación general n.º 4 del CDESC), región, país, tipo de documento, idioma o año.",
  },
  ar: {
    countriesNav: "البلدان",
    countriesTitle: "البلدان: بيانات الإسكان والأدلة",
    countriesIntro: "أحدث أرقام أهداف التنمية المستدامة المتعلقة بالإسكان (مع سنتها) إلى جانب الأدلة الموجودة في المجموعة. انقر على عنوان عمود للفرز، وعلى بلد للبحث في أدلته.",
    colCountry: "البلد",
    colRegion: "المنطقة",
    colDocuments: "الوثائق",
    colPassages: "المقاطع",
    noData: "لا توجد بيانات",
    loadingCountries: "جارٍ تحميل البلدان…",
    countriesFailed: "تعذر تحميل البلدان: {message}",
    countryEvidence: "{docs} وثائق و{passages} مقاطع عنه في المجموعة",
    countryNoEvidence: "لا تحتوي المجموعة بعد على أدلة عن هذا البلد.",
    countryGaps: "لا أدلة عن: {list}",
    countrySource: "المصدر: {source}",
    filterToCountry: "{country} فقط",
    filtersOnly: "{n} مقطعاً تطابق عوامل التصفية. اكتب سؤالاً للبحث فيها.",
    trendSince: "{change} نقطة منذ {year}",
    countryCardLabel: "ملف البلد",
    sortBy: "الفرز حسب {column}",
    backToSearch: "العودة إلى البحث",
    appName: "قاعدة معارف سياسات الإسكان",
    tagline: "أدلة موثقة عن السكن اللائق بلغات الأمم المتحدة",
    skip: "انتقل إلى النتائج",
    uiLanguage: "لغة الواجهة",
    heroTitle: "ابحث في أدلة سياسات الإسكان",
    heroText:
      "قوانين واستراتيجيات وطنية ودراسات حالة وتقارير موئل الأمم المتحدة بسبع لغات. كل نتيجة تذكر وثيقتها وصفحتها وفقرتها.",
    searchLabel: "ابحث في قاعدة المعارف",
    searchPlaceholder: "مثال: أمن الحيازة في المستوطنات غير الرسمية",
    search: "بحث",
    suggestionsLabel: "اقتراحات",
    tryLabel: "جرّب:",
    kind_title: "وثيقة",
    kind_country: "بلد",
    kind_component: "عنصر",
    kind_region: "منطقة",
    filters: "عوامل التصفية",
    clearFilters: "مسح الكل",
    facet_component: "عنصر السكن اللائق",
    facet_region: "المنطقة",
    facet_stage: "مرحلة سلسلة الإسكان",
    evidenceTerms: "مصطلحات داعمة",
    facet_country: "البلد",
    facet_document_type: "نوع الوثيقة",
    facet_language: "اللغة",
    facet_year: "السنة",
    yearFrom: "من",
    yearTo: "إلى",
    anyYear: "أي سنة",
    showAll: "عرض الكل ({n})",
    showFewer: "عرض أقل",
    noValues: "لا شيء لهذا البحث",
    activeFilters: "عوامل التصفية النشطة",
    removeFilter: "إزالة عامل التصفية: {label}",
    searching: "جارٍ البحث…",
    resultsCount: "{total} مقطعًا مطابقًا، يُعرض {from}–{to}",
    alsoMatching: "يطابق أيضًا، بلغات أخرى:",
    noResults: "لا توجد مقاطع مطابقة. جرّب إزالة عامل تصفية أو إعادة صياغة السؤال.",
    machineTranslation: "ترجمة آلية ({model})، وليست النص الأصلي:",
    otherEditions: "متوفر أيضًا بـ:",
    matchedAs: "كلماتك المطابقة:",
    noGoodMatch: "لا يوجد تطابق جيد: لا تحتوي المجموعة على ما يقارب هذا السؤال. فيما يلي أقرب المقاطع.",
    nearbyTopics: "مواضيع تغطيها المجموعة:",
    weakMatches: "{total} مقطعًا مطابقًا، يُعرض {from}–{to}؛ تطابقات ضعيفة فقط.",
    searchFailed: "فشل البحث: {message}",
    loadMore: "عرض المزيد من النتائج",
    results: "النتائج",
    openDocument: "فتح في الوثيقة",
    examples: "أمثلة من بلدان أخرى",
    source: "المصدر",
    page: "ص. {n}",
    pages: "ص. {a}–{b}",
    paragraph: "الفقرة {p}",
    paragraphs: "الفقرات {p}",
    showFull: "عرض المقطع كاملًا",
    showLess: "عرض أقل",
    filterBy: "تصفية حسب {label}",
    tags: "الوسوم",
    untaggedNote: "غير موسوم",
    gapTitle: "خريطة الأدلة",
    gapCaption:
      "المقاطع ضمن أول {n} نتيجة لـ «{q}» حسب المنطقة وعنصر السكن اللائق. تُظهر الخلايا المخططة مواضع نقص الأدلة.",
    gapUntagged: "المقاطع التي عُثر عليها لا تحمل وسوم العناصر بعد، لذا لا تُظهر الخريطة الفجوات.",
    gapLoading: "جارٍ إعداد الخريطة…",
    gapRegion: "المنطقة",
    gapTotal: "كل المقاطع",
    gapComponent: "العنصر",
    gapCell: "{component}، {region}: {n} مقطعًا",
    gapLegendFew: "أقل",
    gapLegendMany: "أكثر",
    gapLegendNone: "لا أدلة",
    briefTitle: "موجز سياسات",
    briefText: "موجز موثق عن «{q}»: ملخص، وأدلة حسب العنصر والمنطقة، وأمثلة، وخريطة الفجوات، والمراجع.",
    briefFormat: "الصيغة",
    briefDownload: "تنزيل الموجز",
    briefPreparing: "جارٍ إعداد الموجز…",
    briefReady: "تم تنزيل الموجز.",
    briefFailed: "تعذّر إعداد الموجز: {message}",
    examplesIntro: "مقاطع عن الموضوع نفسه من بلدان أخرى.",
    examplesLoading: "جارٍ البحث عن أمثلة…",
    examplesNone: "لم يُعثر على أمثلة مماثلة.",
    close: "إغلاق",
    backToResults: "العودة إلى البحث",
    passagesCount: "{n} مقطعًا",
    documentNotFound: "الوثيقة غير موجودة.",
    loading: "جارٍ التحميل…",
    metaPublisher: "الناشر",
    metaYear: "السنة",
    metaType: "النوع",
    metaCountries: "البلدان",
    metaLanguage: "اللغة",
    metaPages: "الصفحات",
    originalDocument: "الوثيقة الأصلية",
    contents: "المقاطع",
    footer: "كل مقتطف يحيل إلى صفحته في الوثيقة المصدر.",
    apiDocs: "توثيق واجهة البرمجة",
    welcomeTitle: "ما الذي ستجده هنا",
    welcomeText:
      "اسأل بأي لغة من لغات الأمم المتحدة: تأتي النتائج من وثائق بجميعها. ضيّق البحث حسب العنصر (التعليق العام رقم 4)، أو المنطقة، أو البلد، أو نوع الوثيقة، أو اللغة، أو السنة.",
  },
};

// The eight components of adequate housing (CESCR General Comment No. 4) and the UN-Habitat regions.
const COMPONENTS = {
  security_of_tenure: { en: "Security of tenure", fr: "Sécurité d’occupation", es: "Seguridad de la tenencia", ar: "أمن الحيازة" },
  availability_of_services: {
    en: "Services & infrastructure",
    fr: "Services et infrastructures",
    es: "Servicios e infraestructura",
    ar: "توافر الخدمات والمرافق",
  },
  affordability: { en: "Affordability", fr: "Coût abordable", es: "Asequibilidad", ar: "القدرة على تحمل الكلفة" },
  habitability: { en: "Habitability", fr: "Habitabilité", es: "Habitabilidad", ar: "الصلاحية للسكن" },
  accessibility: { en: "Accessibility", fr: "Accessibilité", es: "Accesibilidad", ar: "إمكانية الوصول" },
  location: { en: "Location", fr: "Emplacement", es: "Ubicación", ar: "الموقع" },
  cultural_adequacy: { en: "Cultural adequacy", fr: "Respect du milieu culturel", es: "Adecuación cultural", ar: "الملاءمة الثقافية" },
  sustainability: { en: "Sustainability", fr: "Durabilité", es: "Sostenibilidad", ar: "الاستدامة" },
};
export const COMPONENT_KEYS = Object.keys(COMPONENTS);

// The SDG housing series of the country profiles (ingest/indicators.py SERIES), as column headers.
const SERIES = {
  en_lnd_slum: { en: "Slums", fr: "Bidonvilles", es: "Tugurios", ar: "الأحياء الفقيرة" },
  sp_acs_bsrvh2o: { en: "Basic water", fr: "Eau (base)", es: "Agua básica", ar: "المياه الأساسية" },
  sp_acs_bsrvsan: { en: "Basic sanitation", fr: "Assainissement (base)", es: "Saneamiento básico", ar: "الصرف الصحي الأساسي" },
  sh_h2o_safe: { en: "Safe water", fr: "Eau gérée en sécurité", es: "Agua segura", ar: "المياه المأمونة" },
  sh_san_safe: { en: "Safe sanitation", fr: "Assainissement géré en sécurité", es: "Saneamiento seguro", ar: "الصرف الصحي المأمون" },
  eg_elc_accs: { en: "Electricity", fr: "Électricité", es: "Electricidad", ar: "الكهرباء" },
  eg_egy_clean: { en: "Clean cooking", fr: "Cuisson propre", es: "Cocina limpia", ar: "الطهي النظيف" },
};
export const SERIES_KEYS = Object.keys(SERIES);
export const seriesLabel = (key) => fromTable(SERIES, key);

// The housing supply-chain stages (HSP/OEWG-H.2024/8, para. 129; prompts/supply_chain/stages.yaml).
const STAGES = {
  land_management: { en: "Land management", fr: "Gestion foncière", es: "Gestión del suelo", ar: "إدارة الأراضي" },
  housing_finance: { en: "Housing finance", fr: "Financement du logement", es: "Financiación de la vivienda", ar: "تمويل الإسكان" },
  construction_technology: {
    en: "Construction technology & materials",
    fr: "Techniques et matériaux de construction",
    es: "Tecnología y materiales de construcción",
    ar: "تقنيات ومواد البناء",
  },
  development_mechanisms: {
    en: "Housing development tools",
    fr: "Outils de production de logements",
    es: "Instrumentos de producción de vivienda",
    ar: "أدوات تطوير الإسكان",
  },
  community_management: {
    en: "Community management",
    fr: "Gestion communautaire",
    es: "Gestión comunitaria",
    ar: "الإدارة المجتمعية",
  },
  inclusive_housing: { en: "Inclusive housing for all", fr: "Logement inclusif pour tous", es: "Vivienda inclusiva para todos", ar: "سكن شامل للجميع" },
};

const REGIONS = {
  africa: { en: "Africa", fr: "Afrique", es: "África", ar: "أفريقيا" },
  arab_states: { en: "Arab States", fr: "États arabes", es: "Estados Árabes", ar: "الدول العربية" },
  asia_pacific: { en: "Asia-Pacific", fr: "Asie-Pacifique", es: "Asia-Pacífico", ar: "آسيا والمحيط الهادئ" },
  eastern_europe_central_asia: {
    en: "Eastern Europe & Central Asia",
    fr: "Europe de l’Est et Asie centrale",
    es: "Europa del Este y Asia Central",
    ar: "أوروبا الشرقية وآسيا الوسطى",
  },
  latin_america_caribbean: {
    en: "Latin America & Caribbean",
    fr: "Amérique latine et Caraïbes",
    es: "América Latina y el Caribe",
    ar: "أمريكا اللاتينية والكاريبي",
  },
  western_europe_others: {
    en: "Western Europe & others",
    fr: "Europe occidentale et autres",
    es: "Europa Occidental y otros",
    ar: "أوروبا الغربية ودول أخرى",
  },
  global: { en: "Global", fr: "Mondial", es: "Mundial", ar: "عالمي" },
};
export const REGION_KEYS = Object.keys(REGIONS);

const DOCUMENT_TYPES = {
  un_habitat_report: { en: "UN-Habitat report", fr: "Rapport d’ONU-Habitat", es: "Informe de ONU-Hábitat", ar: "تقرير موئل الأمم المتحدة" },
  national_strategy: { en: "National strategy", fr: "Stratégie nationale", es: "Estrategia nacional", ar: "استراتيجية وطنية" },
  law: { en: "Law", fr: "Loi", es: "Ley", ar: "قانون" },
  case_study: { en: "Case study", fr: "Étude de cas", es: "Estudio de caso", ar: "دراسة حالة" },
  rights_text: { en: "Human rights text", fr: "Texte relatif aux droits", es: "Texto de derechos humanos", ar: "نص حقوقي" },
  statistics_metadata: { en: "Statistics metadata", fr: "Métadonnées statistiques", es: "Metadatos estadísticos", ar: "بيانات وصفية إحصائية" },
  parliamentary_record: { en: "Parliamentary record", fr: "Compte rendu parlementaire", es: "Acta parlamentaria", ar: "محضر برلماني" },
  research: { en: "Research", fr: "Recherche", es: "Investigación", ar: "بحث" },
  programme_guideline: { en: "Programme guideline", fr: "Directive de programme", es: "Directriz de programa", ar: "دليل برنامج" },
  other: { en: "Other", fr: "Autre", es: "Otro", ar: "أخرى" },
};

// ISO 3166 alpha-3 -> alpha-2 (Intl.DisplayNames wants alpha-2). Generated from pycountry.
const ISO3_TO_2 = Object.fromEntries(
  (
  "ABWAW,AFGAF,AGOAO,AIAAI,ALAAX,ALBAL,ANDAD,AREAE,ARGAR,ARMAM,ASMAS,ATAAQ,ATFTF,ATGAG,AUSAU,AUTAT,AZEAZ,BDIBI,BE" +
  "LBE,BENBJ,BESBQ,BFABF,BGDBD,BGRBG,BHRBH,BHSBS,BIHBA,BLMBL,BLRBY,BLZBZ,BMUBM,BOLBO,BRABR,BRBBB,BRNBN,BTNBT,BVTB" +
  "V,BWABW,CAFCF,CANCA,CCKCC,CHECH,CHLCL,CHNCN,CIVCI,CMRCM,CODCD,COGCG,COKCK,COLCO,COMKM,CPVCV,CRICR,CUBCU,CUWCW," +
  "CXRCX,CYMKY,CYPCY,CZECZ,DEUDE,DJIDJ,DMADM,DNKDK,DOMDO,DZADZ,ECUEC,EGYEG,ERIER,ESHEH,ESPES,ESTEE,ETHET,FINFI,FJ" +
  "IFJ,FLKFK,FRAFR,FROFO,FSMFM,GABGA,GBRGB,GEOGE,GGYGG,GHAGH,GIBGI,GINGN,GLPGP,GMBGM,GNBGW,GNQGQ,GRCGR,GRDGD,GRLG" +
  "L,GTMGT,GUFGF,GUMGU,GUYGY,HKGHK,HMDHM,HNDHN,HRVHR,HTIHT,HUNHU,IDNID,IMNIM,INDIN,IOTIO,IRLIE,IRNIR,IRQIQ,ISLIS," +
  "ISRIL,ITAIT,JAMJM,JEYJE,JORJO,JPNJP,KAZKZ,KENKE,KGZKG,KHMKH,KIRKI,KNAKN,KORKR,KWTKW,LAOLA,LBNLB,LBRLR,LBYLY,LC" +
  "ALC,LIELI,LKALK,LSOLS,LTULT,LUXLU,LVALV,MACMO,MAFMF,MARMA,MCOMC,MDAMD,MDGMG,MDVMV,MEXMX,MHLMH,MKDMK,MLIML,MLTM" +
  "T,MMRMM,MNEME,MNGMN,MNPMP,MOZMZ,MRTMR,MSRMS,MTQMQ,MUSMU,MWIMW,MYSMY,MYTYT,NAMNA,NCLNC,NERNE,NFKNF,NGANG,NICNI," +
  "NIUNU,NLDNL,NORNO,NPLNP,NRUNR,NZLNZ,OMNOM,PAKPK,PANPA,PCNPN,PERPE,PHLPH,PLWPW,PNGPG,POLPL,PRIPR,PRKKP,PRTPT,PR" +
  "YPY,PSEPS,PYFPF,QATQA,REURE,ROURO,RUSRU,RWARW,SAUSA,SDNSD,SENSN,SGPSG,SGSGS,SHNSH,SJMSJ,SLBSB,SLESL,SLVSV,SMRS" +
  "M,SOMSO,SPMPM,SRBRS,SSDSS,STPST,SURSR,SVKSK,SVNSI,SWESE,SWZSZ,SXMSX,SYCSC,SYRSY,TCATC,TCDTD,TGOTG,THATH,TJKTJ," +
  "TKLTK,TKMTM,TLSTL,TONTO,TTOTT,TUNTN,TURTR,TUVTV,TWNTW,TZATZ,UGAUG,UKRUA,UMIUM,URYUY,USAUS,UZBUZ,VATVA,VCTVC,VE" +
  "NVE,VGBVG,VIRVI,VNMVN,VUTVU,WLFWF,WSMWS,YEMYE,ZAFZA,ZMBZM,ZWEZW"
  )
    .split(",")
    .map((pair) => [pair.slice(0, 3), pair.slice(3)]),
);

let current = "en";

/** The UI language to start with: ?lang=, then the saved choice, then the browser's, else English. */
export function initialLanguage() {
  const fromUrl = new URLSearchParams(location.search).get("lang");
  let saved = null;
  try {
    saved = localStorage.getItem("hkb.lang");
  } catch {
    // storage can be disabled (private mode); fall through to the browser language
  }
  const browser = (navigator.languages || [navigator.language || "en"]).map((l) => String(l).slice(0, 2).toLowerCase());
  for (const lang of [fromUrl, saved, ...browser]) {
    if (lang && SUPPORTED.includes(lang)) return lang;
  }
  return "en";
}

/** Switch the UI language: <html lang/dir>, every [data-i18n*] element, and the saved choice. */
export function setLanguage(lang) {
  current = SUPPORTED.includes(lang) ? lang : "en";
  document.documentElement.lang = current;
  document.documentElement.dir = isRtl(current) ? "rtl" : "ltr";
  try {
    localStorage.setItem("hkb.lang", current);
  } catch {
    // not fatal: the choice just won't persist
  }
  applyTranslations(document);
  return current;
}

export function currentLanguage() {
  return current;
}

/** Translate a UI key, filling {placeholders}: t("page", {n: 4}) -> "p. 4". */
export function t(key, vars = {}) {
  const text = MESSAGES[current][key] ?? MESSAGES.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

/** Fill [data-i18n] (text), [data-i18n-placeholder], [data-i18n-aria-label] and [data-i18n-title] under root. */
export function applyTranslations(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-aria-label]")) el.setAttribute("aria-label", t(el.dataset.i18nAriaLabel));
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
}

function fromTable(table, key) {
  const entry = table[key];
  return entry ? entry[current] || entry.en : key.replaceAll("_", " ");
}

export const componentLabel = (key) => fromTable(COMPONENTS, key);
export const stageLabel = (key) => fromTable(STAGES, key);
export const regionLabel = (key) => fromTable(REGIONS, key);
export const documentTypeLabel = (key) => fromTable(DOCUMENT_TYPES, key);

/** Localized country name for an ISO alpha-3 code ("KEN" -> "Kenya" / "Kenia"); the code if unknown. */
export function countryName(iso3) {
  const alpha2 = ISO3_TO_2[String(iso3).toUpperCase()];
  if (!alpha2) return iso3;
  try {
    return new Intl.DisplayNames([current], { type: "region" }).of(alpha2) || iso3;
  } catch {
    return iso3;
  }
}

/** Localized language name for an ISO 639-1 code ("ar" -> "Arabic" / "arabe"). */
export function languageName(code) {
  try {
    return new Intl.DisplayNames([current], { type: "language" }).of(code) || code;
  } catch {
    return code;
  }
}

/** Whether text in this language runs right to left (for dir= on excerpts). */
export function isRtl(code) {
  return RTL.has(String(code || "").slice(0, 2).toLowerCase());
}

/** Label for any facet value: facetLabel("region", "africa") -> "Africa". */
export function facetLabel(facet, value) {
  switch (facet) {
    case "component":
      return componentLabel(value);
    case "stage":
      return stageLabel(value);
    case "region":
      return regionLabel(value);
    case "country":
      return countryName(value);
    case "document_type":
      return documentTypeLabel(value);
    case "language":
      return languageName(value);
    default:
      return String(value);
  }
}

/** A probability as a whole percentage in the UI's locale (0.87 -> "87%"). */
export function formatPercent(p) {
  return new Intl.NumberFormat(current === "ar" ? "ar-u-nu-latn" : current, { style: "percent" }).format(p);
}

/** Locale-aware number formatting (Arabic UI keeps Western digits for consistency with citations). */
export function formatNumber(n) {
  return new Intl.NumberFormat(current === "ar" ? "ar-u-nu-latn" : current).format(n);
}
